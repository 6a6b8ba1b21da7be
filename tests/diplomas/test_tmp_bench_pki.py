def test_bench(diploma, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    from diplomas import pdf, qr
    import time
    print("PDF", pdf.bench_pdf([diploma] * 40))
    data = pdf.render_pdf(diploma)
    t = time.process_time()
    for _ in range(20):
        pdf.verify_pdf(data)
    print("verify_pdf ms", (time.process_time() - t) / 20 * 1e3, "size", len(data))
    t = time.process_time()
    for _ in range(2000):
        qr.decode_qr(diploma.qr)
    print("QR verify ms", (time.process_time() - t) / 2000 * 1e3, "chars", len(diploma.qr), "version", qr.qr_symbol(diploma.qr).version)
