// SPDX-License-Identifier: Apache-2.0
/*
 * The quick start: one portal, one target and LUNs given as PATH[:SIZE]
 * on the command line, numbered 0, 1, ... in the order given. Validated
 * with the same rules as the config file.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "config_int.h"

/* "PATH:SIZE" or "PATH". The size is what follows the last ':' when that
 * parses as a size, so device paths with colons still work. */
static int parse_lun_spec(struct cfg_errs *e, const char *spec, uint32_t id,
			  struct cfg_lun *l)
{
	const char *colon = strrchr(spec, ':');
	uint64_t size = 0;
	size_t plen = strlen(spec);
	struct stat st;

	l->id = id;
	if (colon && colon[1] && config_parse_size(colon + 1, &size) == 0) {
		plen = (size_t)(colon - spec);
		if (size == 0 || size % 512) {
			cfg_error(e, 0,
				  "--lun %s: the size must be a non-zero "
				  "multiple of 512 bytes",
				  spec);
			return -EINVAL;
		}
	} else if (colon && colon[1] == '\0') {
		plen--; /* "PATH:" = no size */
	}
	if (plen == 0) {
		cfg_error(e, 0, "--lun %s: missing path (use --lun PATH:SIZE)",
			  spec);
		return -EINVAL;
	}
	/* duetd changes to / when it detaches: keep paths absolute. */
	l->path = cfg_abs_path(NULL, spec, plen);
	if (!l->path)
		return -ENOMEM;
	l->size = size;
	if (size == 0 && stat(l->path, &st) < 0) {
		cfg_error(e, 0,
			  "--lun %s: %s does not exist and no size was given "
			  "(use --lun %s:SIZE, e.g. %s:1G, to create it)",
			  spec, l->path, l->path, l->path);
		return -EINVAL;
	}
	return 0;
}

int config_from_args_to(const char *portal, const char *target,
			char *const *luns, size_t n_luns,
			struct duet_config *cfg, FILE *errs)
{
	struct cfg_errs e = {.file = NULL, .out = errs};
	struct cfg_target *t;
	char buf[160];
	const char *why;

	config_defaults(cfg);
	cfg->portals = calloc(1, sizeof(*cfg->portals));
	cfg->targets = calloc(1, sizeof(*cfg->targets));
	t = cfg->targets;
	if (!cfg->portals || !t)
		goto nomem;
	cfg->n_targets = 1;
	t->tpgt = 1;
	if (!portal)
		portal = "0.0.0.0:3260";
	why = cfg_parse_portal(portal, &cfg->portals[0]);
	if (why)
		cfg_error(&e, 0, "--portal %s: %s", portal, why);
	else
		cfg->n_portals = 1;
	if (!target) {
		cfg_error(&e, 0,
			  "--target NAME is required with --lun (e.g. --target "
			  "iqn.2026-11.org.example:disk0)");
	} else if ((why = cfg_check_iscsi_name(target, buf, sizeof(buf)))) {
		cfg_error(&e, 0, "--target %s: %s", target, why);
	} else if (!(t->name = strdup(target))) {
		goto nomem;
	}
	if (n_luns == 0)
		cfg_error(&e, 0, "at least one --lun PATH:SIZE is required");
	t->luns = calloc(n_luns ? n_luns : 1, sizeof(*t->luns));
	if (!t->luns)
		goto nomem;
	for (size_t i = 0; i < n_luns; i++) {
		if (parse_lun_spec(&e, luns[i], (uint32_t)i, &t->luns[i]) ==
		    -ENOMEM)
			goto nomem;
		t->n_luns++;
	}
	if (t->name && n_luns)
		cfg_validate_all(cfg, &e);
	cfg_errs_flush(&e);
	if (e.count) {
		config_free(cfg);
		return -EINVAL;
	}
	return 0;
nomem:
	cfg_errs_flush(&e);
	config_free(cfg);
	return -ENOMEM;
}

int config_from_args(const char *portal, const char *target, char *const *luns,
		     size_t n_luns, struct duet_config *cfg)
{
	return config_from_args_to(portal, target, luns, n_luns, cfg, stderr);
}
