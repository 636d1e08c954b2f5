#!/bin/sh
# Builds the impairment proxy next to this script.
set -eu
cd "$(dirname "$0")"
cc -O2 -Wall -Wextra -std=c11 -o impair impair.c
