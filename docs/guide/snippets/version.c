/* Guide, "Building and linking": check at run time that the loaded library
 * is at least as new as the headers the program was compiled with.
 * Exits 0 when they agree. */
#include <scoresde.h>
#include <stdio.h>

int main(void)
{
    unsigned loaded = scoresde_version_number();
    printf("compiled against %s, running with %s\n", SCORESDE_VERSION_STRING,
           scoresde_version_string());
    if (loaded < SCORESDE_VERSION_NUMBER) {
        fprintf(stderr, "the loaded libscoresde is older than its headers\n");
        return 1;
    }
    return 0;
}
