build/lib/core/hash.o: lib/core/hash.c lib/core/common.h lib/core/hash.h
lib/core/common.h:
lib/core/hash.h:
