"""The kit every sandbox is built on: server and provider hooks (``server``), accounts,
credentials (``auth``), rate-limit counters (``limits``), admin operations and their client
(``operations``, ``client``), outgoing provider webhooks (``webhooks``), the demo's view
(``demo``), and what an integration's kit gives the contract suite (``contract``)."""
