//! Client-side load balancing strategies (round robin, smooth weighted, least connections, P2C + peak EWMA, random, consistent hash).
