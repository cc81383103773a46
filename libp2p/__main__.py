import sys

from libp2p.cli import main

sys.exit(main())
