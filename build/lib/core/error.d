build/lib/core/error.o: lib/core/error.c lib/core/common.h
lib/core/common.h:
