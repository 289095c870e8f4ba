//! One registry model over Consul, etcd and an embedded file registry.
