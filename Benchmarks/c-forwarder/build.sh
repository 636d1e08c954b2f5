#!/bin/sh
# Builds the baseline forwarder next to this script.
set -eu
cd "$(dirname "$0")"
cc -O2 -Wall -Wextra -std=c11 -pthread -o forwarder forwarder.c
