package registry

// The etcd backend: the instance lives under /hale/services/<name>/<id> as JSON, attached to a
// lease of the instance's TTL that a heartbeat renews every TTL/3. If the process dies the lease
// runs out and etcd deletes the key by itself. A lease etcd no longer knows (expired while we
// were cut off, or a wiped cluster) is replaced: grant a new one and put the key again.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"strings"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

const (
	etcdPrefix = "/hale/services/"
	// etcdDialTimeout bounds connection set-up so an unreachable etcd never blocks start-up.
	etcdDialTimeout = 3 * time.Second
	// etcdListTimeout bounds one list (Get) of a service's instances.
	etcdListTimeout = 5 * time.Second
	// etcdResync is how long one watch runs before Watch lists again. The list is cheap, and it
	// catches what a resumed watch cannot: an etcd restarted with wiped data has a lower
	// revision, so a watch resumed at the old one would wait for nothing.
	etcdResync = 10 * time.Second
)

// etcdValue is the JSON stored under the key; the Rust side reads and writes the same fields.
type etcdValue struct {
	Name    string            `json:"name"`
	ID      string            `json:"id"`
	Address string            `json:"address"`
	Port    int               `json:"port"`
	Tags    []string          `json:"tags"`
	Meta    map[string]string `json:"meta"`
	Check   string            `json:"check"`
}

type etcdRegistry struct {
	endpoint string
	client   *clientv3.Client
	// lease is owned by the keeper's loop (and read by deregister after the loop has stopped).
	lease clientv3.LeaseID
}

func newEtcd(hostPort string) (*etcdRegistry, error) {
	settings, err := etcdTLSSettings(os.Getenv)
	if err != nil {
		return nil, err
	}
	tlsConfig, err := settings.config()
	if err != nil {
		return nil, err
	}
	client, err := clientv3.New(clientv3.Config{
		TLS:                  tlsConfig,
		Endpoints:            []string{hostPort},
		DialTimeout:          etcdDialTimeout,
		DialKeepAliveTime:    10 * time.Second,
		DialKeepAliveTimeout: 3 * time.Second,
		// The client's own zap logs would bypass the service's slog output and repeat every
		// retry; this package reports what matters itself.
		Logger: zap.NewNop(),
	})
	if err != nil {
		return nil, fmt.Errorf("etcd client for %s: %w", hostPort, err)
	}
	return &etcdRegistry{endpoint: hostPort, client: client}, nil
}

func etcdKey(name, id string) string { return etcdPrefix + name + "/" + id }

// leaseSeconds rounds the TTL up to etcd's whole seconds.
func leaseSeconds(ttl time.Duration) int64 {
	return max(1, int64(math.Ceil(ttl.Seconds())))
}

func (e *etcdRegistry) register(ctx context.Context, inst Instance) error {
	value, err := json.Marshal(etcdValue{
		Name: inst.Name, ID: inst.ID, Address: inst.Address, Port: inst.Port,
		Tags: inst.Tags, Meta: inst.Meta, Check: inst.Check,
	})
	if err != nil {
		return err
	}
	grant, err := e.client.Grant(ctx, leaseSeconds(inst.TTL))
	if err != nil {
		return fmt.Errorf("etcd %s: granting a lease: %w", e.endpoint, err)
	}
	if _, err := e.client.Put(ctx, etcdKey(inst.Name, inst.ID), string(value), clientv3.WithLease(grant.ID)); err != nil {
		e.revokeQuietly(grant.ID)
		return fmt.Errorf("etcd %s: putting %s: %w", e.endpoint, etcdKey(inst.Name, inst.ID), err)
	}
	// The key now hangs on the new lease; the old one (if etcd still has it) holds nothing.
	if old := e.lease; old != 0 && old != grant.ID {
		e.revokeQuietly(old)
	}
	e.lease = grant.ID
	return nil
}

func (e *etcdRegistry) revokeQuietly(lease clientv3.LeaseID) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_, _ = e.client.Revoke(ctx, lease)
}

func (e *etcdRegistry) heartbeat(ctx context.Context, inst Instance) error {
	if e.lease == 0 {
		return errLost
	}
	if _, err := e.client.KeepAliveOnce(ctx, e.lease); err != nil {
		if errors.Is(err, rpctypes.ErrLeaseNotFound) {
			return fmt.Errorf("%w: lease %x", errLost, int64(e.lease))
		}
		return fmt.Errorf("etcd %s: keeping lease %x alive: %w", e.endpoint, int64(e.lease), err)
	}
	return nil
}

// deregister revokes the lease (which deletes the key with it) and deletes the key as well, in
// case it was put by someone else or the lease is already gone.
func (e *etcdRegistry) deregister(ctx context.Context, inst Instance) error {
	var revokeErr error
	if e.lease != 0 {
		if _, err := e.client.Revoke(ctx, e.lease); err != nil && !errors.Is(err, rpctypes.ErrLeaseNotFound) {
			revokeErr = fmt.Errorf("etcd %s: revoking lease %x: %w", e.endpoint, int64(e.lease), err)
		}
		e.lease = 0
	}
	if _, err := e.client.Delete(ctx, etcdKey(inst.Name, inst.ID)); err != nil {
		return errors.Join(revokeErr, fmt.Errorf("etcd %s: deleting %s: %w", e.endpoint, etcdKey(inst.Name, inst.ID), err))
	}
	return revokeErr
}

func (e *etcdRegistry) close() error { return e.client.Close() }

// decodeEtcd turns one key/value into an instance; foreign or broken values are skipped.
func decodeEtcd(service string, key, value []byte) (Instance, bool) {
	var v etcdValue
	if err := json.Unmarshal(value, &v); err != nil || v.Port < 1 || v.Port > 65535 || v.Address == "" {
		return Instance{}, false
	}
	inst := Instance{Name: service, ID: v.ID, Address: v.Address, Port: v.Port, Tags: v.Tags, Meta: v.Meta, Check: v.Check}
	if inst.ID == "" {
		inst.ID = string(key[strings.LastIndexByte(string(key), '/')+1:])
	}
	if inst.Tags == nil {
		inst.Tags = []string{}
	}
	if inst.Meta == nil {
		inst.Meta = map[string]string{}
	}
	return inst, true
}

// list returns the service's instances by key, and the revision they were read at.
func (e *etcdRegistry) list(ctx context.Context, service string) (map[string]Instance, int64, error) {
	ctx, cancel := context.WithTimeout(ctx, etcdListTimeout)
	defer cancel()
	resp, err := e.client.Get(ctx, etcdPrefix+service+"/", clientv3.WithPrefix())
	if err != nil {
		return nil, 0, fmt.Errorf("etcd %s: listing %s: %w", e.endpoint, etcdPrefix+service+"/", err)
	}
	byKey := make(map[string]Instance, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		if inst, ok := decodeEtcd(service, kv.Key, kv.Value); ok {
			byKey[string(kv.Key)] = inst
		}
	}
	return byKey, resp.Header.Revision, nil
}

func valuesOf(byKey map[string]Instance) []Instance {
	list := make([]Instance, 0, len(byKey))
	for _, inst := range byKey {
		list = append(list, inst)
	}
	return list
}

// follow lists the prefix, then watches from the next revision; a broken or compacted watch,
// and every etcdResync, starts over with a fresh list.
func (e *etcdRegistry) follow(ctx context.Context, service string, s *sender, logger *slog.Logger) {
	trouble := watchFailures{logger: logger}
	retry := backoff{start: retryStart, cap: 5 * time.Second}
	prefix := etcdPrefix + service + "/"
	for {
		byKey, rev, err := e.list(ctx, service)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			wait := retry.next()
			trouble.failed(ctx, err, wait)
			if !sleep(ctx, wait) {
				return
			}
			continue
		}
		trouble.succeeded()
		retry.reset()
		s.send(valuesOf(byKey))

		watchCtx, cancel := context.WithTimeout(ctx, etcdResync)
		// WithRequireLeader: a member cut off from its cluster ends the watch instead of
		// silently serving nothing.
		events := e.client.Watch(clientv3.WithRequireLeader(watchCtx), prefix, clientv3.WithPrefix(), clientv3.WithRev(rev+1))
		for resp := range events {
			if err := resp.Err(); err != nil {
				// ErrCompacted included: the list above is the way to catch up.
				logger.Debug("etcd watch ended; listing again", "error", err)
				break
			}
			for _, ev := range resp.Events {
				key := string(ev.Kv.Key)
				switch ev.Type {
				case mvccpb.PUT:
					if inst, ok := decodeEtcd(service, ev.Kv.Key, ev.Kv.Value); ok {
						byKey[key] = inst
					} else {
						delete(byKey, key)
					}
				case mvccpb.DELETE:
					delete(byKey, key)
				}
			}
			s.send(valuesOf(byKey))
		}
		cancel()
		if ctx.Err() != nil {
			return
		}
	}
}
