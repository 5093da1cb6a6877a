/*
 * stt_metrics.h - the Prometheus metrics endpoint of Statistics. Private
 * to statistics/.
 *
 * libmicrohttpd serves GET /metrics from a thread of its own, with a
 * database connection of its own (never the lifecycle's, which the main
 * thread uses): the latest snapshot's figures plus the queue lengths read
 * at the moment of the scrape.
 */
#ifndef STT_METRICS_H
#define STT_METRICS_H

struct ofc_db;
struct ofc_strbuf;
struct stt_metrics;

/*
 * Starts the endpoint on address:port (an IPv4 or IPv6 literal). conninfo
 * is copied; node_id selects the snapshots. Returns 0 and *m_r, or -1
 * with a heap message in *error_r.
 */
int stt_metrics_start(const char *conninfo, long long node_id, const char *address, int port,
                      struct stt_metrics **m_r, char **error_r) __attribute__((warn_unused_result));
/* Stops the thread, closes the socket and the connection; *m becomes NULL. */
void stt_metrics_stop(struct stt_metrics **m);

/*
 * Appends the exposition text (format 0.0.4) for node_id to out. Returns
 * 0, or -1 with a heap message in *error_r (out then holds a part).
 */
int stt_metrics_render(struct ofc_db *db, long long node_id, struct ofc_strbuf *out, char **error_r)
    __attribute__((warn_unused_result));

#endif
