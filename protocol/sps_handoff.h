/*
 * sps_handoff.h - how iolistener hands client sockets to protocol servers.
 *
 * The one socket in ofcmail that is not the database (DESIGN preamble):
 * a SOCK_SEQPACKET unix socket at <var_dir>/<SID>/sps/iolistener.sock
 * (directory 0750, socket 0660, owned by the node's user). Every packet is
 * one line of text (no newline, at most SPS_HANDOFF_MAX octets), words
 * separated by single spaces:
 *
 *   instance -> listener, first packet after connecting:
 *     HELLO <protocol> <process id> <instance> <pid>
 *         protocol: pop3 | imap (lower case); process id: the `process`
 *         row. The listener answers "OK" or "ERR <reason>" and closes.
 *   instance -> listener, whenever its client count changes (at most
 *   every 100 ms) and at least every 5 s:
 *     LOAD <clients> <max clients>
 *   listener -> instance, one per client, with the socket attached as
 *   SCM_RIGHTS (exactly one descriptor):
 *     CLIENT <tls 0|1> <local port> <peer address> <peer port>
 *         tls 1: an implicit-TLS port (995/993): the instance does the
 *         handshake before the greeting.
 *
 * The listener chooses, among the instances registered for the port's
 * protocol, the one with the fewest clients (its last LOAD plus the
 * clients sent since), skipping those at their maximum. An instance whose
 * socket closes is dropped at once. When none can take a client the
 * listener writes a refusal in the protocol's words and closes it
 * (POP3: "-ERR [SYS/TEMP] ...", IMAP: "* BYE [UNAVAILABLE] ...").
 * When instances exist but every one's socket is full (a burst against
 * slow instances), the client waits, first come first served, up to 5 s
 * (at most 1,024 waiting) for room, and is refused after that. A
 * malformed LOAD, like a malformed HELLO, gets ERR and the socket closed.
 * Once handed over, a client belongs to the instance alone: a listener
 * restart does not affect it; instances reconnect to a new listener
 * (every second) and say HELLO again.
 */
#ifndef SPS_HANDOFF_H
#define SPS_HANDOFF_H

#include <stddef.h>
#include <sys/types.h>

#define SPS_HANDOFF_MAX 512

struct ofc_config;

/* <var_dir>/<SID>/sps/iolistener.sock (heap string). */
char *sps_handoff_path(const struct ofc_config *cfg);

/*
 * Sends one packet (text, without NUL) with fd attached when fd >= 0.
 * Returns 0, or -1 with errno (EAGAIN when the socket is non-blocking and
 * full; EPIPE/ECONNRESET when the peer is gone).
 */
int sps_handoff_send(int sock, const char *text, int fd);

/*
 * Receives one packet into buf (NUL-terminated; size >= SPS_HANDOFF_MAX+1)
 * and the attached descriptor into *fd_r (-1 when none; extra descriptors
 * are closed, close-on-exec is set). Returns the text length, 0 when the
 * peer closed, -1 with errno on error (EMSGSIZE: packet truncated, the
 * descriptor, if any, closed).
 */
ssize_t sps_handoff_recv(int sock, char *buf, size_t size, int *fd_r);

#endif
