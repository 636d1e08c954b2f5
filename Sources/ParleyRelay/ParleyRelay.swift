/// Work in progress: the ParleyRelay module.
enum ParleyRelayModule {}
