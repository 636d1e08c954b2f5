#ifndef PARLEY_COPENSSL_H
#define PARLEY_COPENSSL_H
#include <openssl/ssl.h>
#include <openssl/err.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/ec.h>
#include <openssl/x509.h>
#include <openssl/rand.h>
#include <openssl/hmac.h>
#include <sys/time.h>

/*
 * Small wrappers for OpenSSL function-like macros, variadic functions and constants built
 * from casts, none of which Swift can import. Each does exactly what the macro it wraps does.
 */

/* SSL option bits (SSL_OP_BIT(n) is a cast expression Swift does not import). */
static const uint64_t PARLEY_SSL_OP_NO_TICKET = SSL_OP_NO_TICKET;
static const uint64_t PARLEY_SSL_OP_NO_RENEGOTIATION = SSL_OP_NO_RENEGOTIATION;
static const uint64_t PARLEY_SSL_OP_CIPHER_SERVER_PREFERENCE = SSL_OP_CIPHER_SERVER_PREFERENCE;
/* X509_NAME_add_entry_by_txt string type for plain ASCII. */
static const int PARLEY_MBSTRING_ASC = MBSTRING_ASC;

/* SSL_CTX_set_min_proto_version / SSL_CTX_set_max_proto_version. Returns 1 on success. */
int parley_ssl_ctx_set_proto_versions(SSL_CTX *ctx, int min_version, int max_version);
/* SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF): no session resumption. */
void parley_ssl_ctx_disable_session_cache(SSL_CTX *ctx);
/* SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS): free a connection's record buffers while idle. */
void parley_ssl_ctx_release_buffers(SSL_CTX *ctx);
/* DTLSv1_get_timeout: 1 and the time left on OpenSSL's real-clock timer, or 0 if none runs
 * (used only with OpenSSL versions whose timer the DTLS BIO cannot hold). */
int parley_dtls_get_timeout(SSL *ssl, struct timeval *time_left);
/* DTLSv1_handle_timeout: 1 if it retransmitted, 0 if its timer had not expired, -1 on failure. */
int parley_dtls_handle_timeout(SSL *ssl);
/* BIO_set_retry_read: a datagram BIO's read found nothing, try again later. */
void parley_bio_set_retry_read(BIO *bio);
/* BIO_clear_retry_flags. */
void parley_bio_clear_retry_flags(BIO *bio);
/* EVP_EC_gen(curve) (a macro over the variadic EVP_PKEY_Q_keygen): a new EC key pair. */
EVP_PKEY *parley_evp_ec_gen(const char *curve);

#endif
