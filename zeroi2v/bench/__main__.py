from zeroi2v.bench.cli import main

raise SystemExit(main())
