// Delayed downstream: the same documents, answered after 20 ms.
var fs = require('fs');
var cache = {};
function slow(r) {
    var name = r.uri.split('/').pop();
    if (!cache[name]) { cache[name] = fs.readFileSync(r.variables.payload_dir + name, 'utf8'); }
    setTimeout(function () {
        r.headersOut['Content-Type'] = 'application/json';
        r.return(200, cache[name]);
    }, 20);
}
export default { slow };
