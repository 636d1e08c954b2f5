/// Work in progress: the ParleyRouting module.
enum ParleyRoutingModule {}
