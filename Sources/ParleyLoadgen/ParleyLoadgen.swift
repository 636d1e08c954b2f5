/// Work in progress: the ParleyLoadgen module.
enum ParleyLoadgenModule {}
