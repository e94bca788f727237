/* edge_ecg_encoder.c: reference C99 encoder of the edge-ecg wire protocol (see the .h). */
#include "edge_ecg_encoder.h"

#include <string.h>

/* The descriptor stores uv_per_count as IEEE-754 binary32; refuse to build where float differs. */
typedef char edge_ecg_float_is_32_bits[(sizeof(float) == 4) ? 1 : -1];

static void put_u16(uint8_t *p, uint16_t v) {
    p[0] = (uint8_t)(v & 0xFFu);
    p[1] = (uint8_t)(v >> 8);
}

static void put_u32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)(v & 0xFFu);
    p[1] = (uint8_t)((v >> 8) & 0xFFu);
    p[2] = (uint8_t)((v >> 16) & 0xFFu);
    p[3] = (uint8_t)(v >> 24);
}

static void put_u64(uint8_t *p, uint64_t v) {
    put_u32(p, (uint32_t)(v & 0xFFFFFFFFu));
    put_u32(p + 4, (uint32_t)(v >> 32));
}

void edge_ecg_encoder_init(edge_ecg_encoder_t *enc) { enc->seq = 0u; }

uint16_t edge_ecg_crc16_update(uint16_t crc, const uint8_t *data, size_t len) {
    /* Bitwise rather than a 512-byte table: flash is scarcer than cycles at ECG data rates. */
    size_t i;
    int bit;
    for (i = 0; i < len; ++i) {
        crc ^= (uint16_t)((uint16_t)data[i] << 8);
        for (bit = 0; bit < 8; ++bit) {
            if (crc & 0x8000u) {
                crc = (uint16_t)(((unsigned)crc << 1) ^ EDGE_ECG_CRC_POLY);
            } else {
                crc = (uint16_t)((unsigned)crc << 1);
            }
        }
    }
    return crc;
}

uint16_t edge_ecg_crc16(const uint8_t *data, size_t len) {
    return (uint16_t)(edge_ecg_crc16_update(EDGE_ECG_CRC_INIT, data, len) ^ EDGE_ECG_CRC_XOROUT);
}

/* Write header, then CRC over header + payload (already in place); returns the frame size. */
static size_t finish_frame(edge_ecg_encoder_t *enc, uint8_t *out, uint8_t frame_type, size_t payload_len) {
    size_t crc_at = EDGE_ECG_HEADER_SIZE + payload_len;
    out[EDGE_ECG_HEADER_OFF_SYNC] = EDGE_ECG_SYNC0;
    out[EDGE_ECG_HEADER_OFF_SYNC + 1u] = EDGE_ECG_SYNC1;
    out[EDGE_ECG_HEADER_OFF_VERSION] = EDGE_ECG_PROTOCOL_VERSION;
    out[EDGE_ECG_HEADER_OFF_FRAME_TYPE] = frame_type;
    put_u16(out + EDGE_ECG_HEADER_OFF_SEQ, enc->seq);
    put_u16(out + EDGE_ECG_HEADER_OFF_PAYLOAD_LEN, (uint16_t)payload_len);
    put_u16(out + crc_at, edge_ecg_crc16(out, crc_at));
    enc->seq = (uint16_t)(enc->seq + 1u);
    return crc_at + EDGE_ECG_CRC_SIZE;
}

static unsigned sample_bytes(uint8_t sample_format) {
    if (sample_format == EDGE_ECG_FORMAT_INT16) return EDGE_ECG_FORMAT_INT16_BYTES;
    if (sample_format == EDGE_ECG_FORMAT_INT24) return EDGE_ECG_FORMAT_INT24_BYTES;
    return 0u;
}

size_t edge_ecg_data_frame_size(uint8_t n_channels, uint8_t sample_format, uint16_t n_samples) {
    unsigned width = sample_bytes(sample_format);
    uint32_t payload;
    if (width == 0u || n_channels < 1u || n_channels > EDGE_ECG_MAX_CHANNELS || n_samples < 1u) return 0u;
    payload = EDGE_ECG_DATA_PAYLOAD_LEN(n_channels, width, n_samples);
    if (payload > EDGE_ECG_MAX_PAYLOAD_BYTES) return 0u;
    return (size_t)EDGE_ECG_FRAME_LEN(payload);
}

size_t edge_ecg_encode_data(edge_ecg_encoder_t *enc, uint8_t *out, size_t out_cap,
                            uint64_t first_sample, uint8_t n_channels, uint8_t sample_format,
                            uint16_t n_samples, const int32_t *counts, uint32_t lead_off_mask) {
    size_t frame = edge_ecg_data_frame_size(n_channels, sample_format, n_samples);
    unsigned width = sample_bytes(sample_format);
    int32_t lo = (sample_format == EDGE_ECG_FORMAT_INT16) ? EDGE_ECG_FORMAT_INT16_MIN : EDGE_ECG_FORMAT_INT24_MIN;
    int32_t hi = (sample_format == EDGE_ECG_FORMAT_INT16) ? EDGE_ECG_FORMAT_INT16_MAX : EDGE_ECG_FORMAT_INT24_MAX;
    uint8_t *p;
    uint32_t i, total;
    unsigned b;
    if (enc == NULL || out == NULL || frame == 0u || frame > out_cap || counts == NULL) return 0u;
    if (n_channels < 32u && (lead_off_mask >> n_channels) != 0u) return 0u;
    p = out + EDGE_ECG_HEADER_SIZE;
    put_u64(p + EDGE_ECG_DATA_OFF_FIRST_SAMPLE, first_sample);
    p[EDGE_ECG_DATA_OFF_N_CHANNELS] = n_channels;
    p[EDGE_ECG_DATA_OFF_SAMPLE_FORMAT] = sample_format;
    put_u16(p + EDGE_ECG_DATA_OFF_N_SAMPLES, n_samples);
    p += EDGE_ECG_DATA_SIZE;
    for (b = 0; b < EDGE_ECG_LEAD_OFF_BYTES(n_channels); ++b) {
        *p++ = (uint8_t)((lead_off_mask >> (8u * b)) & 0xFFu);
    }
    total = (uint32_t)n_samples * n_channels;
    for (i = 0; i < total; ++i) {
        int32_t v = counts[i];
        uint32_t u = (uint32_t)v; /* two's complement: the low bytes are the packed value */
        if (v < lo || v > hi) return 0u;
        p[0] = (uint8_t)(u & 0xFFu);
        p[1] = (uint8_t)((u >> 8) & 0xFFu);
        if (width == 3u) p[2] = (uint8_t)((u >> 16) & 0xFFu);
        p += width;
    }
    return finish_frame(enc, out, EDGE_ECG_FRAME_DATA, frame - EDGE_ECG_HEADER_SIZE - EDGE_ECG_CRC_SIZE);
}

size_t edge_ecg_encode_descriptor(edge_ecg_encoder_t *enc, uint8_t *out, size_t out_cap,
                                  const edge_ecg_descriptor_t *d) {
    uint32_t payload;
    uint8_t *p;
    unsigned c;
    if (enc == NULL || out == NULL || d == NULL) return 0u;
    if (d->n_channels < 1u || d->n_channels > EDGE_ECG_MAX_CHANNELS) return 0u;
    if (sample_bytes(d->sample_format) == 0u || d->fs_millihz == 0u) return 0u;
    /* the nominal frame size must fit one frame (a host sizes its buffers by it) */
    if (d->samples_per_frame < 1u ||
        edge_ecg_data_frame_size(d->n_channels, d->sample_format, d->samples_per_frame) == 0u) return 0u;
    if (d->channel_names == NULL || d->uv_per_count == NULL || d->baseline_counts == NULL) return 0u;
    payload = EDGE_ECG_DESCRIPTOR_PAYLOAD_LEN(d->n_channels);
    if (EDGE_ECG_FRAME_LEN(payload) > out_cap) return 0u;
    p = out + EDGE_ECG_HEADER_SIZE;
    put_u64(p + EDGE_ECG_DESCRIPTOR_OFF_NEXT_SAMPLE, d->next_sample);
    put_u32(p + EDGE_ECG_DESCRIPTOR_OFF_FS_MILLIHZ, d->fs_millihz);
    put_u32(p + EDGE_ECG_DESCRIPTOR_OFF_DEVICE_ID, d->device_id);
    p[EDGE_ECG_DESCRIPTOR_OFF_FW_MAJOR] = d->fw_major;
    p[EDGE_ECG_DESCRIPTOR_OFF_FW_MINOR] = d->fw_minor;
    put_u16(p + EDGE_ECG_DESCRIPTOR_OFF_FW_PATCH, d->fw_patch);
    p[EDGE_ECG_DESCRIPTOR_OFF_N_CHANNELS] = d->n_channels;
    p[EDGE_ECG_DESCRIPTOR_OFF_SAMPLE_FORMAT] = d->sample_format;
    put_u16(p + EDGE_ECG_DESCRIPTOR_OFF_SAMPLES_PER_FRAME, d->samples_per_frame);
    for (c = 0; c < d->n_channels; ++c) {
        uint8_t *ch = p + EDGE_ECG_DESCRIPTOR_SIZE + c * EDGE_ECG_CHANNEL_SIZE;
        const char *name = d->channel_names[c];
        size_t len = 0;
        uint32_t bits;
        /* a finite, normal, positive scale: NaN, inf and denormals fail these comparisons */
        if (name == NULL || !(d->uv_per_count[c] >= 1.17549435e-38f && d->uv_per_count[c] <= 3.40282347e38f)) return 0u;
        while (name[len] != '\0') {
            /* printable ASCII only: the host shows and matches these names */
            if (len == EDGE_ECG_CHANNEL_NAME_BYTES || (uint8_t)name[len] < 0x20u || (uint8_t)name[len] > 0x7Eu) return 0u;
            ++len;
        }
        if (len == 0u) return 0u;
        memset(ch + EDGE_ECG_CHANNEL_OFF_NAME, 0, EDGE_ECG_CHANNEL_NAME_BYTES);
        memcpy(ch + EDGE_ECG_CHANNEL_OFF_NAME, name, len);
        memcpy(&bits, &d->uv_per_count[c], sizeof bits);
        put_u32(ch + EDGE_ECG_CHANNEL_OFF_UV_PER_COUNT, bits);
        put_u32(ch + EDGE_ECG_CHANNEL_OFF_BASELINE_COUNTS, (uint32_t)d->baseline_counts[c]);
    }
    return finish_frame(enc, out, EDGE_ECG_FRAME_DESCRIPTOR, payload);
}

size_t edge_ecg_encode_event(edge_ecg_encoder_t *enc, uint8_t *out, size_t out_cap,
                             uint64_t sample, uint8_t kind, int32_t value) {
    uint8_t *p;
    if (enc == NULL || out == NULL || EDGE_ECG_FRAME_LEN(EDGE_ECG_EVENT_SIZE) > out_cap) return 0u;
    if (kind != EDGE_ECG_EVENT_BUTTON && kind != EDGE_ECG_EVENT_MARKER && kind != EDGE_ECG_EVENT_BATTERY) return 0u;
    p = out + EDGE_ECG_HEADER_SIZE;
    put_u64(p + EDGE_ECG_EVENT_OFF_SAMPLE, sample);
    p[EDGE_ECG_EVENT_OFF_KIND] = kind;
    memset(p + EDGE_ECG_EVENT_OFF_RESERVED, 0, 3u);
    put_u32(p + EDGE_ECG_EVENT_OFF_VALUE, (uint32_t)value);
    return finish_frame(enc, out, EDGE_ECG_FRAME_EVENT, EDGE_ECG_EVENT_SIZE);
}

size_t edge_ecg_encode_heartbeat(edge_ecg_encoder_t *enc, uint8_t *out, size_t out_cap,
                                 uint64_t next_sample, uint32_t uptime_ms) {
    uint8_t *p;
    if (enc == NULL || out == NULL || EDGE_ECG_FRAME_LEN(EDGE_ECG_HEARTBEAT_SIZE) > out_cap) return 0u;
    p = out + EDGE_ECG_HEADER_SIZE;
    put_u64(p + EDGE_ECG_HEARTBEAT_OFF_NEXT_SAMPLE, next_sample);
    put_u32(p + EDGE_ECG_HEARTBEAT_OFF_UPTIME_MS, uptime_ms);
    return finish_frame(enc, out, EDGE_ECG_FRAME_HEARTBEAT, EDGE_ECG_HEARTBEAT_SIZE);
}
