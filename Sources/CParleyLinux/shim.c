#include "CParleyLinux.h"
