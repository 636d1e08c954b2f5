#!/bin/sh
# Builds the load source and echo endpoint next to this script.
set -eu
cd "$(dirname "$0")"
cc -O2 -Wall -Wextra -std=c11 -pthread -o blaster blaster.c
