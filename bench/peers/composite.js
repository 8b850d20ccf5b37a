// nginx + njs peer: three subrequests in parallel (Promise.all), merged into one JSON document.
function composite(r) {
    var prefix = r.uri.indexOf('/composite-slow') === 0 ? '/_slow/' : '/_d/';
    Promise.all([r.subrequest(prefix + 'user'), r.subrequest(prefix + 'orders'), r.subrequest(prefix + 'recs')])
        .then(function (replies) {
            for (var i = 0; i < replies.length; i++) {
                if (replies[i].status !== 200) { r.return(502, '{"error":"downstream"}'); return; }
            }
            var out = {
                user: JSON.parse(replies[0].responseText),
                orders: JSON.parse(replies[1].responseText).orders,
                recommendations: JSON.parse(replies[2].responseText).items
            };
            r.headersOut['Content-Type'] = 'application/json';
            r.return(200, JSON.stringify(out));
        })
        .catch(function (e) { r.return(502, '{"error":"' + e + '"}'); });
}
export default { composite };
