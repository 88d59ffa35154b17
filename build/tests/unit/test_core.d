build/tests/unit/test_core.o: tests/unit/test_core.c lib/core/common.h \
 tests/unit/../tap.h lib/core/atomic.h lib/core/config.h lib/core/csvio.h \
 lib/core/hash.h lib/core/pool.h
lib/core/common.h:
tests/unit/../tap.h:
lib/core/atomic.h:
lib/core/config.h:
lib/core/csvio.h:
lib/core/hash.h:
lib/core/pool.h:
