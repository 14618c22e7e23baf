"""The compared methods: which video model each builds and how it trains and deploys."""
