"""The engine: run one sync — extract, land, compare, commit — and the warehouse it writes."""
