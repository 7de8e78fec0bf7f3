package smtp

import "strings"

// Class is how a recipient domain is routed, with Postfix's address-class
// names.
type Class int

const (
	Remote  Class = iota // any other domain: relayed only for trusted or authenticated clients
	Local                // mydestination: delivered to local (userdb) users
	Virtual              // virtual_mailbox_domains: delivered to userdb users by full address
	Relay                // relay_domains: accepted from anyone, forwarded onwards
)

func (c Class) String() string {
	switch c {
	case Local:
		return "local"
	case Virtual:
		return "virtual"
	case Relay:
		return "relay"
	}
	return "remote"
}

// Routing classifies recipient domains. List entries are domain names
// ("$myhostname" and friends already expanded by the caller); an entry
// starting with "." matches every subdomain of the rest, as Postfix's
// parent_domain_matches_subdomains does for relay_domains.
type Routing struct {
	MyHostname                                         string
	MyDestination, VirtualMailboxDomains, RelayDomains []string
}

// Class returns the class of domain (compared after normalisation). The
// order is Postfix's: local, then virtual, then relay, else remote.
// MyHostname is always Local (Postfix's default mydestination starts with
// $myhostname; cote keeps it local even when mydestination leaves it out, so
// mail to <user>@myhostname, such as pickup's default senders, stays here). An
// address literal is always Remote here: accepting mail for one's own IP
// literal is a deliberate exception cote does not make.
func (r *Routing) Class(domain string) Class {
	d, err := NormalizeDomain(domain)
	if err != nil || strings.HasPrefix(d, "[") {
		return Remote
	}
	switch {
	case r.MyHostname != "" && matchDomain(d, []string{r.MyHostname}), matchDomain(d, r.MyDestination):
		return Local
	case matchDomain(d, r.VirtualMailboxDomains):
		return Virtual
	case matchDomain(d, r.RelayDomains):
		return Relay
	}
	return Remote
}

func matchDomain(d string, list []string) bool {
	for _, e := range list {
		e = strings.TrimSpace(e)
		if e == "" {
			continue
		}
		if sub, ok := strings.CutPrefix(e, "."); ok {
			n, err := NormalizeDomain(sub)
			if err == nil && strings.HasSuffix(d, "."+n) {
				return true
			}
			continue
		}
		n, err := NormalizeDomain(e)
		if err == nil && n == d {
			return true
		}
	}
	return false
}
