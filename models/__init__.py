"""Pure learners and statistics: bandits, the response model, BG/NBD and Gamma-Gamma, CLV, the
Markov chain, credit splitting, the recommender, experiment statistics, OPE and decay.

Each module is one concept with explicit parameters and runnable examples, and imports no Kafka,
Redis or Bytewax, so it can be used and tested on its own."""
