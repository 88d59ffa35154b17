build/lib/core/log.o: lib/core/log.c lib/core/common.h lib/core/log.h
lib/core/common.h:
lib/core/log.h:
