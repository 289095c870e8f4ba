//! A local fleet: N instances of a generated service run as processes, state in .hale/.
