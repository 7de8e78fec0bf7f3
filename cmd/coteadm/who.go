package main

import (
	"context"
	"fmt"
	"io"
	"net/netip"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/cote-mail/cote/pkg/anvil"
	"github.com/cote-mail/cote/pkg/settings"
)

func init() {
	subcommands = append(subcommands, whoCmd)
}

func whoCmd(cfgPath *string) *cobra.Command {
	var oneLine bool
	cmd := &cobra.Command{
		Use:   "who [-1] [MASK...]",
		Short: "list logged-in users (like doveadm who)",
		Long: "who lists the connections the anvil service counts, grouped by user and protocol:\n" +
			"the number of connections, the pids that hold them and the client IPs. -1 prints\n" +
			"one line per user, protocol, pid and IP. A MASK is a user name with * and ?\n" +
			"wildcards, an IP address, or a network in CIDR notation.",
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := settings.Load(*cfgPath)
			if err != nil {
				return err
			}
			sock := filepath.Join(cfg.Root.Get("base_dir"), "anvil")
			ctx, cancel := context.WithTimeout(cmd.Context(), adminTimeout)
			defer cancel()
			c, err := anvil.Dial(ctx, sock)
			if err != nil {
				return fmt.Errorf("cannot reach the anvil service at %s: %w", sock, err)
			}
			defer c.Close()
			conns, err := c.Who(ctx)
			if err != nil {
				return err
			}
			masks, err := parseWhoMasks(args)
			if err != nil {
				return err
			}
			conns = slices.DeleteFunc(conns, func(cn anvil.Conn) bool { return !masks.match(cn) })
			if oneLine {
				return printWhoLines(cmd.OutOrStdout(), conns)
			}
			return printWho(cmd.OutOrStdout(), conns)
		},
	}
	cmd.Flags().BoolVarP(&oneLine, "separate-connections", "1", false, "one line per connection")
	return cmd
}

// whoMasks filters connections as doveadm who's masks do: by user
// (wildcards) or by IP/network; several masks of one kind are
// alternatives.
type whoMasks struct {
	users []string
	nets  []netip.Prefix
}

func parseWhoMasks(args []string) (whoMasks, error) {
	var m whoMasks
	for _, a := range args {
		if p, err := netip.ParsePrefix(a); err == nil {
			m.nets = append(m.nets, p.Masked())
			continue
		}
		if ip, err := netip.ParseAddr(a); err == nil {
			ip = ip.Unmap()
			m.nets = append(m.nets, netip.PrefixFrom(ip, ip.BitLen()))
			continue
		}
		if _, err := path.Match(a, ""); err != nil {
			return m, fmt.Errorf("who: invalid mask %q", a)
		}
		m.users = append(m.users, a)
	}
	return m, nil
}

func (m whoMasks) match(c anvil.Conn) bool {
	if len(m.users) > 0 && !slices.ContainsFunc(m.users, func(p string) bool {
		ok, _ := path.Match(p, c.User)
		return ok
	}) {
		return false
	}
	if len(m.nets) > 0 && !slices.ContainsFunc(m.nets, func(p netip.Prefix) bool {
		return c.IP.IsValid() && p.Contains(c.IP)
	}) {
		return false
	}
	return true
}

// printWho prints doveadm who's default table: username, connection
// count, protocol, (pids), (ips).
func printWho(out io.Writer, conns []anvil.Conn) error {
	type key struct{ user, service string }
	type group struct {
		n    int
		pids []int
		ips  []string
	}
	groups := map[key]*group{}
	var order []key
	for _, c := range conns {
		k := key{c.User, c.Service}
		g := groups[k]
		if g == nil {
			g = &group{}
			groups[k] = g
			order = append(order, k)
		}
		g.n += c.Count
		if !slices.Contains(g.pids, c.PID) {
			g.pids = append(g.pids, c.PID)
		}
		if ip := ipString(c.IP); !slices.Contains(g.ips, ip) {
			g.ips = append(g.ips, ip)
		}
	}
	slices.SortFunc(order, func(a, b key) int {
		if c := strings.Compare(a.user, b.user); c != 0 {
			return c
		}
		return strings.Compare(a.service, b.service)
	})
	tw := tabwriter.NewWriter(out, 0, 8, 1, ' ', 0)
	fmt.Fprintln(tw, "username\t#\tproto\t(pids)\t(ips)")
	for _, k := range order {
		g := groups[k]
		slices.Sort(g.pids)
		pids := make([]string, len(g.pids))
		for i, p := range g.pids {
			pids[i] = strconv.Itoa(p)
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t(%s)\t(%s)\n", k.user, g.n, k.service, strings.Join(pids, " "), strings.Join(g.ips, " "))
	}
	return tw.Flush()
}

// printWhoLines prints doveadm who -1: one line per user, protocol, pid
// and IP.
func printWhoLines(out io.Writer, conns []anvil.Conn) error {
	tw := tabwriter.NewWriter(out, 0, 8, 1, ' ', 0)
	fmt.Fprintln(tw, "username\tproto\tpid\tip")
	for _, c := range conns {
		for range c.Count {
			fmt.Fprintf(tw, "%s\t%s\t%d\t%s\n", c.User, c.Service, c.PID, ipString(c.IP))
		}
	}
	return tw.Flush()
}

func ipString(ip netip.Addr) string {
	if !ip.IsValid() {
		return ""
	}
	return ip.String()
}
