build/gen/default_config.o: build/gen/default_config.c
