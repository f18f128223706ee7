/* sessionctl: the operator command-line tool; main() only dispatches to the
 * subcommand named by argv[1] (one cmd_<name>.c file per subcommand). */
#include "cli/cli.h"

#include <stdio.h>
#include <string.h>

/* The build passes the project version; a build outside CMake still works. */
#ifndef SD_VERSION
#define SD_VERSION "unknown"
#endif

/* Every subcommand, in the order "sessionctl --help" lists them. A new one
 * is one line here plus its own file. */
static const cli_command commands[] = {
    {"usage", "license usage per instance: used / limit / reserved", cli_cmd_usage},
    {"list", "open sessions, newest first: who holds the licenses", cli_cmd_list},
    {"show", "one session by id", cli_cmd_show},
    {"close", "close a session now and free its slot (reason admin)", cli_cmd_close},
    {"limit", "limit set N: change the license limit live", cli_cmd_limit},
    {"reserve", "reserve add|remove|list: subjects guaranteed a seat", cli_cmd_reserve},
    {"revoke", "revoke a token by jti until its exp", cli_cmd_revoke},
    {"events", "the lifecycle event stream (--follow to keep watching)", cli_cmd_events},
    {"check", "scan for broken invariants; exit 1 when anything is wrong",
     cli_cmd_check},
    {"top", "live view: usage bars, rates and the newest events", cli_cmd_top},
    {"token", "mint a signed JWT access token from a PEM private key (for tests)",
     cli_cmd_token},
    {"jwks", "print a JWKS document with the public part of PEM keys", cli_cmd_jwks},
};

static const size_t ncommands = sizeof commands / sizeof commands[0];

static void usage(FILE *out) {
    fputs("Usage: sessionctl COMMAND [OPTIONS]\n"
          "       sessionctl COMMAND --help\n"
          "\n"
          "Commands:\n",
          out);
    for (size_t i = 0; i < ncommands; i++)
        fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fputs("\n"
          "Options:\n"
          "  -h, --help   this text\n"
          "  --version    print the version\n"
          "\n"
          "Exit status: 0 success, 1 failure, 2 bad command line.\n",
          out);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        usage(stderr);
        return CLI_EXIT_USAGE;
    }
    const char *name = argv[1];
    if (strcmp(name, "-h") == 0 || strcmp(name, "--help") == 0 ||
        strcmp(name, "help") == 0) {
        usage(stdout);
        return CLI_EXIT_OK;
    }
    if (strcmp(name, "--version") == 0) {
        puts("sessionctl " SD_VERSION);
        return CLI_EXIT_OK;
    }
    for (size_t i = 0; i < ncommands; i++) {
        if (strcmp(name, commands[i].name) == 0)
            return commands[i].run(argc - 1, argv + 1);
    }
    cli_error("unknown command '%s' (see 'sessionctl --help')", name);
    return CLI_EXIT_USAGE;
}
