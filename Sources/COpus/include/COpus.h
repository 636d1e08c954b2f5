#ifndef PARLEY_COPUS_H
#define PARLEY_COPUS_H
#include <opus/opus.h>
#endif
