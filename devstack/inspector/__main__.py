from devstack.inspector.server import main

raise SystemExit(main())
