from taskfair.cli import main

raise SystemExit(main())
