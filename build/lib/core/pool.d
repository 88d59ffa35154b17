build/lib/core/pool.o: lib/core/pool.c lib/core/common.h lib/core/pool.h
lib/core/common.h:
lib/core/pool.h:
