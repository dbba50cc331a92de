/* Built against an installed libscoresde through pkg-config only. */
#include <scoresde.h>
#include <stdio.h>

int main(void)
{
    if (scoresde_version_number() != SCORESDE_VERSION_NUMBER) {
        fprintf(stderr, "header %s but library %s\n", SCORESDE_VERSION_STRING,
                scoresde_version_string());
        return 1;
    }
    double z[4];
    if (scoresde_rng_normal(1, 0, 0, 4, z) != SCORESDE_OK)
        return 1;
    printf("libscoresde %s installed and usable\n", scoresde_version_string());
    return 0;
}
