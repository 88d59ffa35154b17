build/lib/ravdess/index_read.o: lib/ravdess/index_read.c \
 lib/core/common.h lib/core/cli.h lib/core/config.h lib/core/csvio.h \
 lib/core/hash.h lib/ravdess/index.h
lib/core/common.h:
lib/core/cli.h:
lib/core/config.h:
lib/core/csvio.h:
lib/core/hash.h:
lib/ravdess/index.h:
