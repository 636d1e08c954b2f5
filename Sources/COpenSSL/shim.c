#include "COpenSSL.h"

int parley_ssl_ctx_set_proto_versions(SSL_CTX *ctx, int min_version, int max_version) {
    return SSL_CTX_set_min_proto_version(ctx, min_version) == 1
        && SSL_CTX_set_max_proto_version(ctx, max_version) == 1;
}

void parley_ssl_ctx_disable_session_cache(SSL_CTX *ctx) {
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
}

void parley_ssl_ctx_release_buffers(SSL_CTX *ctx) {
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
}

int parley_dtls_get_timeout(SSL *ssl, struct timeval *time_left) {
    return (int)DTLSv1_get_timeout(ssl, time_left);
}

int parley_dtls_handle_timeout(SSL *ssl) {
    return (int)DTLSv1_handle_timeout(ssl);
}

void parley_bio_set_retry_read(BIO *bio) {
    BIO_set_retry_read(bio);
}

void parley_bio_clear_retry_flags(BIO *bio) {
    BIO_clear_retry_flags(bio);
}

EVP_PKEY *parley_evp_ec_gen(const char *curve) {
    return EVP_EC_gen(curve);
}
