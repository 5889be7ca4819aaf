/*
 * faultline's init: the first process of a service's container, so a reset can bring the
 * service back as a fresh process without starting the container again (see init.rs).
 *
 *   /.faultline-init PROGRAM [ARGS...]
 *
 * Runs PROGRAM (the image's own entrypoint and command) as its only child, in a session of
 * its own, and behaves to the outside as PROGRAM would as the container's first process:
 *
 * - A signal sent to the container goes to PROGRAM when PROGRAM catches it (its `SigCgt`
 *   mask); else it is dropped, as the kernel drops a signal a namespace's first process does
 *   not catch. SIGKILL (and a `docker stop`'s final SIGKILL) ends this process, and with it
 *   every process of the container, as before.
 * - When PROGRAM exits, this process exits with PROGRAM's code (128 + the signal that
 *   ended it), so the engine reports what PROGRAM did. Orphans it leaves are reaped.
 * - Signal 36 (SIGRTMIN+2 as glibc counts): every other process of the container is killed
 *   (SIGKILL) and reaped; this process stays, and prints nothing.
 * - Signal 37 (SIGRTMIN+3): PROGRAM is started again, when nothing runs.
 *
 * It writes no file and prints nothing but a failure to start PROGRAM.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#define STOP_ALL 36
#define START 37

static pid_t child = 0;

static pid_t start(char **argv, const sigset_t *original) {
    pid_t pid = fork();
    if (pid < 0) {
        fprintf(stderr, "faultline-init: cannot fork: %s\n", strerror(errno));
        return -1;
    }
    if (pid == 0) {
        for (int s = 1; s < NSIG; s++) {
            signal(s, SIG_DFL);
        }
        sigprocmask(SIG_SETMASK, original, NULL);
        setsid();
        execvp(argv[0], argv);
        fprintf(stderr, "faultline-init: cannot run %s: %s\n", argv[0], strerror(errno));
        _exit(errno == ENOENT ? 127 : 126);
    }
    return pid;
}

/* Whether process `pid` catches signal `sig` (bit sig-1 of `SigCgt` in its status). */
static int catches(pid_t pid, int sig) {
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f) {
        return 0;
    }
    char line[256];
    unsigned long long mask = 0;
    int found = 0;
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "SigCgt:", 7) == 0) {
            mask = strtoull(line + 7, NULL, 16);
            found = 1;
            break;
        }
    }
    fclose(f);
    return found && sig >= 1 && sig <= 64 && ((mask >> (sig - 1)) & 1ULL);
}

/* Reaps every exited child; returns the status of `child` when it was among them, else -1. */
static int reap(void) {
    int result = -1;
    for (;;) {
        int status;
        pid_t pid = waitpid(-1, &status, WNOHANG);
        if (pid <= 0) {
            return result;
        }
        if (pid == child) {
            child = 0;
            result = status;
        }
    }
}

static int code_of(int status) {
    if (WIFEXITED(status)) {
        return WEXITSTATUS(status);
    }
    if (WIFSIGNALED(status)) {
        return 128 + WTERMSIG(status);
    }
    return 1;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "faultline-init: usage: faultline-init PROGRAM [ARGS...]\n");
        return 2;
    }
    sigset_t all, original;
    sigfillset(&all);
    sigprocmask(SIG_BLOCK, &all, &original);
    child = start(argv + 1, &original);
    if (child < 0) {
        return 1;
    }
    int stopped = 0;
    for (;;) {
        siginfo_t info;
        int sig = sigwaitinfo(&all, &info);
        if (sig < 0) {
            continue;
        }
        if (sig == SIGCHLD) {
            int status = reap();
            if (status != -1 && !stopped) {
                return code_of(status);
            }
        } else if (sig == STOP_ALL) {
            stopped = 1;
            kill(-1, SIGKILL);
            /* Wait for every process of the namespace, not only for the signals' SIGCHLD. */
            while (waitpid(-1, NULL, 0) > 0 || errno == EINTR) {
            }
            child = 0;
        } else if (sig == START) {
            if (stopped && child == 0) {
                child = start(argv + 1, &original);
                stopped = child < 0;
                if (child < 0) {
                    child = 0;
                }
            }
        } else if (child > 0 && catches(child, sig)) {
            kill(child, sig);
        }
    }
}
