// SPDX-License-Identifier: MIT
/*
 * pnggen - write the project's test images into a directory
 *
 *   pnggen DIR [LARGE]      the good set (+ LARGE 1600x1200 photos-alike)
 *   pnggen --bad DIR        the broken files
 */
#include "pnggen.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int main(int argc, char **argv)
{
	int bad = argc > 1 && strcmp(argv[1], "--bad") == 0;
	const char *dir = argc > 1 + bad ? argv[1 + bad] : NULL;
	unsigned long large = !bad && argc > 2 ? strtoul(argv[2], NULL, 10) :
			      0;
	int r;

	if (!dir || argc > 3 || large > 1000) {
		fputs("usage: pnggen DIR [LARGE] | pnggen --bad DIR\n", stderr);
		return 2;
	}
	if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
		perror(dir);
		return 1;
	}
	r = bad ? pnggen_bad(dir) : pnggen_good(dir, (unsigned int)large);
	if (r < 0) {
		fprintf(stderr, "pnggen: %s: %s\n", dir, strerror(-r));
		return 1;
	}
	printf("pnggen: wrote %d %s files into %s\n",
	       bad ? (int)pnggen_bad_count : r, bad ? "broken" : "PNG", dir);
	return 0;
}
