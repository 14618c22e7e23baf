from zeroi2v.train.cli import main

raise SystemExit(main())
