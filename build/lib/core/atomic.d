build/lib/core/atomic.o: lib/core/atomic.c lib/core/common.h \
 lib/core/atomic.h
lib/core/common.h:
lib/core/atomic.h:
