"""Exit statuses of `derogation-intake`, for a scheduler or a service manager to act on.

The numbers follow sysexits.h where one fits: 75 (EX_TEMPFAIL) says "try again later",
78 (EX_CONFIG) says "a person must fix the settings or the rules first".
"""

from __future__ import annotations

OK = 0
FAILED = 1  # the command ran and something it was asked to do failed (named on stderr)
USAGE = 2  # wrong arguments (argparse uses 2 as well)
NEEDS_ATTENTION = 3  # a message was moved to Needs-attention: a person must look at it
TEMPFAIL = 75  # a server (IMAP, SMTP, database) could not be reached or refused for now
CONFIG = 78  # the settings, a rule file or a template is wrong
INTERRUPTED = 130  # Ctrl-C
BROKEN_PIPE = 141  # the reader of stdout went away (`cases show REF | head`), as 128+SIGPIPE
