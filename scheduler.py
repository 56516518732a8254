"""Weekly tip pushes to group chats: the scheduler comes next (see the project's issue list).

The web app does not need it; this placeholder only says so.
"""
import sys

if __name__ == "__main__":
    print("scheduler.py: the weekly push scheduler is not built yet; nothing to run.",
          file=sys.stderr)
    sys.exit(0)
