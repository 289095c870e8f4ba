// Command compat writes and reads service entries in etcd exactly as go-zero (core/discov) and
// kratos (contrib/registry/etcd) do, with the same etcd client they use, so hale's --layout
// go-zero|kratos is checked against those formats without pulling either framework (their
// module graphs are far too heavy for a test helper).
//
// Usage:
//
//	compat write-gozero ENDPOINT NAME HOST:PORT   prints the lease id (the key's last segment)
//	compat write-kratos ENDPOINT NAME ID HOST:PORT
//	compat read-gozero  ENDPOINT NAME             prints "KEY VALUE" lines
//	compat read-kratos  ENDPOINT NAME             prints "ID ENDPOINT VERSION" lines
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// kratosInstance mirrors kratos registry.ServiceInstance's JSON.
type kratosInstance struct {
	ID        string            `json:"id"`
	Name      string            `json:"name"`
	Version   string            `json:"version"`
	Metadata  map[string]string `json:"metadata"`
	Endpoints []string          `json:"endpoints"`
}

// The entries written here outlive the process for this long, like a registrar that died.
const leaseTTL = 30

func main() {
	if len(os.Args) < 4 {
		fail(fmt.Errorf("usage: compat write-gozero|write-kratos|read-gozero|read-kratos ENDPOINT NAME ..."))
	}
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{os.Args[2]}, DialTimeout: 5 * time.Second})
	if err != nil {
		fail(err)
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	name := os.Args[3]
	switch os.Args[1] {
	case "write-gozero":
		need(5)
		lease, err := cli.Grant(ctx, leaseTTL)
		if err != nil {
			fail(err)
		}
		// go-zero core/discov: key "<name>/<lease id>" → "host:port".
		key := fmt.Sprintf("%s/%d", name, lease.ID)
		if _, err := cli.Put(ctx, key, os.Args[4], clientv3.WithLease(lease.ID)); err != nil {
			fail(err)
		}
		fmt.Println(int64(lease.ID))
	case "write-kratos":
		need(6)
		lease, err := cli.Grant(ctx, leaseTTL)
		if err != nil {
			fail(err)
		}
		value, _ := json.Marshal(kratosInstance{
			ID: os.Args[4], Name: name, Version: "v1.0.0",
			Metadata: map[string]string{"zone": "local"}, Endpoints: []string{"http://" + os.Args[5]},
		})
		// kratos contrib/registry/etcd: key "/microservices/<name>/<id>".
		key := fmt.Sprintf("/microservices/%s/%s", name, os.Args[4])
		if _, err := cli.Put(ctx, key, string(value), clientv3.WithLease(lease.ID)); err != nil {
			fail(err)
		}
	case "read-gozero":
		resp, err := cli.Get(ctx, name+"/", clientv3.WithPrefix())
		if err != nil {
			fail(err)
		}
		var lines []string
		for _, kv := range resp.Kvs {
			lines = append(lines, fmt.Sprintf("%s %s", kv.Key, kv.Value))
		}
		printSorted(lines)
	case "read-kratos":
		resp, err := cli.Get(ctx, "/microservices/"+name+"/", clientv3.WithPrefix())
		if err != nil {
			fail(err)
		}
		var lines []string
		for _, kv := range resp.Kvs {
			var in kratosInstance
			if err := json.Unmarshal(kv.Value, &in); err != nil {
				fail(fmt.Errorf("%s: %w", kv.Key, err))
			}
			for _, e := range in.Endpoints {
				lines = append(lines, fmt.Sprintf("%s %s %s", in.ID, e, in.Version))
			}
		}
		printSorted(lines)
	default:
		fail(fmt.Errorf("unknown mode %q", os.Args[1]))
	}
}

func need(n int) {
	if len(os.Args) < n {
		fail(fmt.Errorf("%s needs %d arguments", os.Args[1], n-2))
	}
}

func printSorted(lines []string) {
	sort.Strings(lines)
	for _, l := range lines {
		fmt.Println(l)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "compat:", err)
	os.Exit(1)
}
