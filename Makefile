# duet — userspace iSCSI target for HA storage pairs.
# `make` builds build/duetd and build/duetctl; `make check` installs what is
# missing, builds and runs every test; `make run` starts a target.

PREFIX ?= /usr/local
DESTDIR ?=
BUILD ?= build
CC ?= cc
SAN ?=

PKGS := libevent libconfig liburing libisal
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS := $(shell pkg-config --libs $(PKGS) 2>/dev/null)

CFLAGS ?= -O2 -g
override CFLAGS += -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Wshadow \
	  -Wno-unused-parameter -Wstrict-prototypes -Wmissing-prototypes \
	  -fno-strict-aliasing -Iinclude $(PKG_CFLAGS) $(SAN)
override LDFLAGS += $(SAN)
LDLIBS := $(PKG_LIBS) -lcrypto -lpthread

LIB_SRC := $(sort $(shell find src -name '*.c' ! -name main.c ! -name duetctl.c))
LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/%.o)
UNIT_SRC := $(sort $(wildcard tests/unit/test_*.c))
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/unit/%)
INTEG_SRC := $(sort $(wildcard tests/integration/test_*.c))
INTEG_BIN := $(INTEG_SRC:tests/integration/%.c=$(BUILD)/tests/integration/%)
INTEG_COMMON := $(wildcard tests/integration/common.c)
FUZZ_SRC := $(sort $(wildcard tests/fuzz/fuzz_*.c))

.PHONY: all deps check unit integration conformance vmtest vmtest-pair run asan fuzz fuzz-short \
	install clean format format-check bench bench-cpu demo tests

all: $(BUILD)/duetd $(BUILD)/duetctl

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/libduet.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/duetd: $(BUILD)/src/main.o $(BUILD)/libduet.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/duetctl: $(BUILD)/src/duetctl.o $(BUILD)/libduet.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/unit/%: tests/unit/%.c $(BUILD)/libduet.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Wno-missing-prototypes $(LDFLAGS) -o $@ $< $(BUILD)/libduet.a $(LDLIBS) -lcmocka

$(BUILD)/tests/integration/%: tests/integration/%.c $(INTEG_COMMON) tests/integration/common.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Wno-missing-prototypes $(LDFLAGS) -o $@ $< $(INTEG_COMMON) -liscsi -lcmocka -lpthread

# The pair's verifying writer/reader (a library for the pair tests and a
# tool), and the namespace harness every test_pair*.c is built with.
PAIRTEST := tests/integration/pairtest.c tests/integration/pairtest.h
PAIRENV := tests/integration/pairenv.c tests/integration/pairenv.h
PAIR_BIN := $(filter $(BUILD)/tests/integration/test_pair%,$(INTEG_BIN))
$(PAIR_BIN): $(BUILD)/tests/integration/%: tests/integration/%.c $(PAIRTEST) $(PAIRENV)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Wno-missing-prototypes $(LDFLAGS) -o $@ $< \
		tests/integration/pairtest.c tests/integration/pairenv.c \
		-liscsi -lcmocka -lpthread

$(BUILD)/tests/tools/pairio: tests/tools/pairio.c $(PAIRTEST)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< tests/integration/pairtest.c \
		-liscsi -lpthread

tests: all $(UNIT_BIN) $(INTEG_BIN) $(BUILD)/tests/tools/pairio

deps:
	@bash scripts/install-deps.sh

# The README's test command: everything, with one summary line at the end.
check: deps
	@$(MAKE) --no-print-directory tests
	@BUILD=$(BUILD) bash scripts/run-tests.sh all

unit: $(UNIT_BIN)
	@BUILD=$(BUILD) bash scripts/run-tests.sh unit

integration: all $(INTEG_BIN)
	@BUILD=$(BUILD) bash scripts/run-tests.sh integration

conformance: all
	@BUILD=$(BUILD) bash scripts/run-tests.sh conformance

# The Linux kernel initiator (open-iscsi + iscsi_tcp) in a qemu guest against
# build/duetd; needs qemu-system-x86 and Debian's archive (scripts/vm/).
vmtest: all
	@BUILD=$(BUILD) bash scripts/vm/run-guest.sh

# The kernel initiator through a pair failover (root: namespaces).
vmtest-pair: all
	@BUILD=$(BUILD) bash scripts/vm/run-pair.sh

asan: deps
	@$(MAKE) --no-print-directory BUILD=build-asan CC=clang \
		SAN="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined" \
		CFLAGS="-O1 -g" tests
	@BUILD=build-asan ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
		LSAN_OPTIONS=suppressions=$(CURDIR)/tests/lsan.supp \
		UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		bash scripts/run-tests.sh all

run: deps
	@$(MAKE) --no-print-directory all
	@bash scripts/run.sh

# The pair in network namespaces with a client riding a pulled link (root).
demo: all $(BUILD)/tests/tools/pairio
	@BUILD=$(BUILD) bash scripts/demo.sh

FUZZ_BASE_CFLAGS := -std=c11 -D_GNU_SOURCE -g -O1 -Iinclude $(PKG_CFLAGS)
FUZZ_CFLAGS := $(FUZZ_BASE_CFLAGS) -fsanitize=fuzzer,address,undefined
# The library is compiled once with the fuzzer instrumentation into
# libduet-fuzz.a (-fsanitize=fuzzer-no-link: no main() in the objects);
# each fuzzer links against it.
FUZZ_OBJ := $(LIB_SRC:%.c=$(BUILD)/fuzz/obj/%.o)
$(BUILD)/fuzz/obj/%.o: %.c
	@mkdir -p $(dir $@)
	clang $(FUZZ_BASE_CFLAGS) -fsanitize=fuzzer-no-link,address,undefined -MMD -MP -c $< -o $@

$(BUILD)/fuzz/libduet-fuzz.a: $(FUZZ_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/fuzz/%: tests/fuzz/%.c $(BUILD)/fuzz/libduet-fuzz.a
	@mkdir -p $(dir $@)
	clang $(FUZZ_CFLAGS) -o $@ $< $(BUILD)/fuzz/libduet-fuzz.a $(LDLIBS)

fuzz: $(FUZZ_SRC:tests/fuzz/%.c=$(BUILD)/fuzz/%)
	@FUZZ_SECONDS=$${FUZZ_SECONDS:-300} BUILD=$(BUILD) bash scripts/run-tests.sh fuzz

fuzz-short: $(FUZZ_SRC:tests/fuzz/%.c=$(BUILD)/fuzz/%)

# libiscsi load generator for the benchmark (not a test: not in a wildcard)
$(BUILD)/iobench: tests/bench/iobench.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< -liscsi

bench: all $(BUILD)/iobench
	@BUILD=$(BUILD) bash scripts/bench.sh

bench-cpu: all $(BUILD)/iobench
	@BUILD=$(BUILD) bash scripts/bench-cpu.sh

install: all
	install -d $(DESTDIR)$(PREFIX)/sbin $(DESTDIR)$(PREFIX)/bin \
		$(DESTDIR)$(PREFIX)/share/doc/duet $(DESTDIR)/etc/duet \
		$(DESTDIR)$(PREFIX)/lib/systemd/system
	install -m 0755 $(BUILD)/duetd $(DESTDIR)$(PREFIX)/sbin/duetd
	install -m 0755 $(BUILD)/duetctl $(DESTDIR)$(PREFIX)/bin/duetctl
	install -m 0644 conf/*.conf $(DESTDIR)$(PREFIX)/share/doc/duet/
	install -m 0644 README.md $(DESTDIR)$(PREFIX)/share/doc/duet/
	sed 's|@SBINDIR@|$(PREFIX)/sbin|g' conf/duetd.service.in > \
		$(DESTDIR)$(PREFIX)/lib/systemd/system/duetd.service
	sed 's|@SBINDIR@|$(PREFIX)/sbin|g' conf/duetd@.service.in > \
		$(DESTDIR)$(PREFIX)/lib/systemd/system/duetd@.service

format:
	clang-format -i $$(find src include tests -name '*.[ch]')

# Fails if any C file differs from .clang-format.
format-check:
	clang-format --dry-run -Werror $$(find src include tests -name '*.[ch]')

clean:
	rm -rf build build-asan

-include $(shell find $(BUILD) -path $(BUILD)/vm -prune -o -type f -name '*.d' -print 2>/dev/null)
