build/lib/core/config.o: lib/core/config.c lib/core/common.h \
 lib/core/config.h lib/core/hash.h
lib/core/common.h:
lib/core/config.h:
lib/core/hash.h:
