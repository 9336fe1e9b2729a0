import sys

from pushdeploy_cli.main import main

sys.exit(main())
