package redistest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Sentinel is a master, its replicas and three Sentinels monitoring it, with short timeouts: a
// master down for a second is failed over within a few seconds.
type Sentinel struct {
	MasterName string
	Master     *Server
	Replicas   []*Server
	Sentinels  []*Server
}

// StartSentinel starts a master, replicas replicating it and three Sentinels (quorum 2), and waits
// until the replicas are in sync and every Sentinel knows the replicas and the other Sentinels.
func StartSentinel(t testing.TB, masterName string, replicas int) *Sentinel {
	t.Helper()
	s := &Sentinel{MasterName: masterName, Master: Start(t)}
	for range replicas {
		s.Replicas = append(s.Replicas, Start(t, "--replicaof", "127.0.0.1", strconv.Itoa(s.Master.Port)))
	}
	for range 3 {
		dir := t.TempDir()
		conf := filepath.Join(dir, "sentinel.conf")
		text := fmt.Sprintf("sentinel monitor %[1]s 127.0.0.1 %[2]d 2\n"+
			"sentinel down-after-milliseconds %[1]s 1000\nsentinel failover-timeout %[1]s 3000\n", masterName, s.Master.Port)
		if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		s.Sentinels = append(s.Sentinels, launch(t, &Server{t: t, Port: freePort(t), bin: "redis-sentinel", conf: conf, dir: dir}))
	}
	ctx := context.Background()
	for _, r := range s.Replicas {
		Eventually(t, r.Addr()+" in sync with its master", func() bool {
			return strings.Contains(replication(ctx, r.Addr()), "master_link_status:up")
		})
	}
	for _, sn := range s.Sentinels {
		c := redis.NewSentinelClient(&redis.Options{Addr: sn.Addr()})
		Eventually(t, sn.Addr()+" knowing the replicas and the other sentinels", func() bool {
			r, _ := c.Replicas(ctx, masterName).Result()
			o, _ := c.Sentinels(ctx, masterName).Result()
			return len(r) == replicas && len(o) == len(s.Sentinels)-1
		})
		_ = c.Close()
	}
	return s
}

// Addrs are the Sentinels' addresses.
func (s *Sentinel) Addrs() []string { return addrs(s.Sentinels) }

// MasterAddr is the master's address according to the first Sentinel that answers.
func (s *Sentinel) MasterAddr(ctx context.Context) string {
	for _, sn := range s.Sentinels {
		c := redis.NewSentinelClient(&redis.Options{Addr: sn.Addr()})
		addr, err := c.GetMasterAddrByName(ctx, s.MasterName).Result()
		_ = c.Close()
		if err == nil && len(addr) == 2 {
			return addr[0] + ":" + addr[1]
		}
	}
	return ""
}

// Cluster is a Redis Cluster on 127.0.0.1; a node missing for a second fails over.
type Cluster struct {
	Nodes []*Server
}

// StartCluster starts masters*(1+replicasPerMaster) nodes, joins them with redis-cli --cluster
// create, which spreads the 16384 slots over the masters, and waits until every node reports the
// cluster ok and every replica is in sync.
func StartCluster(t testing.TB, masters, replicasPerMaster int) *Cluster {
	t.Helper()
	if _, err := exec.LookPath("redis-cli"); err != nil {
		t.Fatal("redis-cli not found: apt-get install -y redis-tools")
	}
	c := &Cluster{}
	args := make([]string, 0, 2+masters*(1+replicasPerMaster)+3)
	args = append(args, "--cluster", "create")
	for range masters * (1 + replicasPerMaster) {
		n := Start(t, "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf", "--cluster-node-timeout", "1000")
		c.Nodes = append(c.Nodes, n)
		args = append(args, n.Addr())
	}
	args = append(args, "--cluster-replicas", strconv.Itoa(replicasPerMaster), "--cluster-yes")
	if out, err := exec.Command("redis-cli", args...).CombinedOutput(); err != nil {
		t.Fatalf("redis-cli %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	// A replica that never synced may refuse to fail over (cluster-replica-validity-factor).
	for _, n := range c.Nodes {
		Eventually(t, n.Addr()+" reporting the cluster ok and, as a replica, in sync", func() bool {
			return n.ClusterOK() && (n.Role(context.Background()) == "master" ||
				strings.Contains(replication(context.Background(), n.Addr()), "master_link_status:up"))
		})
	}
	return c
}

// Addrs are every node's address.
func (c *Cluster) Addrs() []string { return addrs(c.Nodes) }

func addrs(servers []*Server) []string {
	a := make([]string, len(servers))
	for i, s := range servers {
		a[i] = s.Addr()
	}
	return a
}

// Role is "master" or "slave", as the node reports it; "" when it does not answer.
func (s *Server) Role(ctx context.Context) string {
	for _, line := range strings.Split(replication(ctx, s.Addr()), "\r\n") {
		if role, ok := strings.CutPrefix(line, "role:"); ok {
			return role
		}
	}
	return ""
}

// MasterOf is the address of the master a replica replicates.
func (s *Server) MasterOf(ctx context.Context) string {
	var host, port string
	for _, line := range strings.Split(replication(ctx, s.Addr()), "\r\n") {
		if v, ok := strings.CutPrefix(line, "master_host:"); ok {
			host = v
		}
		if v, ok := strings.CutPrefix(line, "master_port:"); ok {
			port = v
		}
	}
	if host == "" {
		return ""
	}
	return host + ":" + port
}

// ClusterOK reports whether the node answers and sees every slot served.
func (s *Server) ClusterOK() bool {
	return strings.Contains(clusterInfo(s.Addr()), "cluster_state:ok")
}

// replication is INFO replication; "" when the server does not answer.
func replication(ctx context.Context, addr string) string {
	c := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1})
	defer func() { _ = c.Close() }()
	s, _ := c.Info(ctx, "replication").Result()
	return s
}

func clusterInfo(addr string) string {
	c := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1})
	defer func() { _ = c.Close() }()
	s, _ := c.ClusterInfo(context.Background()).Result()
	return s
}

// Eventually polls cond up to a generous deadline (the setup of a topology takes seconds): it checks
// that something happens, not how fast.
func Eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
