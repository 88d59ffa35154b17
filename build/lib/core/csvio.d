build/lib/core/csvio.o: lib/core/csvio.c lib/core/common.h \
 lib/core/csvio.h
lib/core/common.h:
lib/core/csvio.h:
